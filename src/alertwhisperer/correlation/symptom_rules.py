"""The built-in symptom rules, kept as data (a Python module so it ships with the package, needs no parser and
is type-checked). ``symptoms.py`` compiles them once.

Each rule is ``(rule_id, symptom, pattern)``. Patterns are case-insensitive regular expressions applied to
*normalised* text: CamelCase split into words, ``_`` and ``-`` turned into spaces, lower case, single spaces
(``NodeFilesystemAlmostOutOfSpace`` -> ``node filesystem almost out of space``, ``HTTPCode_Target_5XX_Count``
-> ``http code target 5xx count``, ``MySQLReplicationLag`` -> ``mysql replication lag``). Label text is
``key=value`` pairs of the well-known labels in ``CLASSIFY_LABELS`` (normalised the same way).

Order matters: the first matching rule wins, so specific phrases (security, certificate, backup, oom,
replication, database) come before broad ones (disk, memory, cpu, service, http, latency, network). A symptom
``service_down:{service}`` takes its service from the named group ``service``, else from the group ``port``
(well-known port), else from the labels in ``SERVICE_LABELS``, else from the asset reference's port, else
``unknown``.
"""

from __future__ import annotations

# Service names recognised in free text (normalised spelling); see SERVICE_ALIASES for the canonical name.
_SVC = (
    r"nginx|apache ?2?|httpd|iis|w3svc|world wide web publishing|postgres(?:ql)?|pgsql|mysqld?|mariadb|"
    r"mssql(?:server)?|sql server|oracle|redis(?: server)?|mongod(?:b)?|memcached|elasticsearch|opensearch|"
    r"rabbit ?mq|kafka|zookeeper|sshd?|openssh|docker(?:d)?|containerd|kubelet|kube ?apiserver|kube ?proxy|"
    r"etcd|haproxy|varnish|traefik|envoy|tomcat|php ?fpm|jenkins|gitlab|consul|keepalived|postfix|exim|"
    r"dovecot|smtp|imap|named|bind9?|dns|ntpd?|chronyd?|cron(?:d)?|samba|smbd|nfs|ldap|slapd|openvpn|"
    r"wireguard|winrm|rdp|spooler|print spooler|exchange|active directory|cassandra|clickhouse|minio|"
    r"influxdb|prometheus|grafana|zabbix (?:server|proxy)|nagios|icinga2?|node exporter|celery|sidekiq|"
    r"gunicorn|uwsgi|puma|unicorn|nodejs|jvm|supervisord?|firewalld|iptables|squid"
)
_DOWN = (
    r"(?:is )?(?:down|not running|stopped|has stopped|not responding|unavailable|not available|unreachable|"
    r"dead|inactive|failed|failing|crashed|crashing|exited|terminated|restarting|crash ?loop\w*|"
    r"entered the stopped state|terminated unexpectedly|no longer running|unhealthy|not started|missing)"
)

RULES: tuple[tuple[str, str, str], ...] = (
    # --- security (specific phrases; before anything that mentions ssh, login or connections) ---------------
    ("security.bruteforce", "security",
     r"brute ?force|password spray|credential stuffing|(?:failed|invalid|multiple|repeated|excessive) "
     r"(?:ssh )?(?:login|logon|log in|sign ?in|auth\w*|password)s?|(?:login|logon|sign ?in|authentication)s? "
     r"(?:fail|attempt)|account (?:is )?lock(?:ed)? ?out|event ?id 4625|event ?id 4740"),
    ("security.threat", "security",
     r"intrusion|malware|virus|ransomware|trojan|rootkit|suspicious|unauthori[sz]ed|privilege escalation|"
     r"port ?scan|\bddos\b|\bdos attack|\bwaf\b|blocked (?:connection|request|ip|traffic|login)s?|"
     r"(?:connection|request)s? blocked|firewall (?:block|den(?:y|ied)|drop)|\bthreat|exploit|guard ?duty|"
     r"security (?:alert|event|incident|finding)|\bcve \d|fail2ban|\bids\b|\bips\b alert"),
    # --- certificates and backups ------------------------------------------------------------------------------
    ("certificate", "certificate",
     r"certificat|\bssl\b|\btls\b|\bx ?509\b|\bcerts?\b|lets ?encrypt|cert ?manager|\bhsts\b"),
    ("backup", "backup",
     r"\bbackups?\b|\bback up\b|snapshot (?:fail|error|miss)|(?:fail|miss)\w* snapshot|veeam|restic|borg|"
     r"bacula|acronis|commvault|\bvss\b|tape (?:job|drive|fail)|\bbareos\b|rubrik|\bdump (?:fail|error)"),
    # --- memory exhaustion -----------------------------------------------------------------------------------
    ("oom", "oom",
     r"\boom\b|oom ?kill|out of memory|out ?of ?memory ?(?:killer|error|exception)|memory exhausted|"
     r"cannot allocate memory|java heap space|heap (?:is )?exhausted|killed process \d+|\boomkilled\b"),
    # --- databases -----------------------------------------------------------------------------------------
    ("replication", "replication",
     r"replica(?:tion|s)? ?(?:lag|delay|behind|broken|stopped|error|fail|not running|io|sql|status|slot)|"
     r"replica lag|slave (?:lag|delay|io|sql|not running|stopped)|seconds behind (?:master|source|primary)|"
     r"\bwal (?:receiver|sender|lag)|standby (?:lag|delay|not)|\blag(?:ging)? behind|sync(?:hroni[sz]ation)? "
     r"lag|\breplica(?:tion)?\b.*\b(?:lag|delay)|\bhadr\b|always ?on .*(?:not synchroni[sz]ing|suspended)"),
    ("db_connections", "db_connections",
     r"too many (?:db |database |client )?connections|(?:db|database|sql|postgres\w*|mysql|mariadb|mssql|"
     r"redis|mongo\w*|pg|client) connections?\b.*(?:high|exhaust|limit|max|full|fail|refused|saturat|usage|used|"
     r"percent|count|>)|connection pool|pool (?:is )?(?:exhausted|full|saturated|timeout)|max ?connections|"
     r"max user connections|connection (?:limit|slots?)|remaining connection slots|threads connected|"
     r"numbackends|database ?connections|connections? (?:exhausted|saturat\w*)|could not connect to "
     r"(?:server|database|the database|db|postgres\w*|mysql)|connection to (?:the )?(?:database|db) "
     r"(?:failed|refused|lost)|(?:db|database) (?:is )?unreachable|operational error|connection_failed|"
     r"too many clients|sorry, too many|"
     # a check named after database connections (check_postgres --action=connection, Nagios "PGSQL connections")
     r"^(?:db|database|sql|postgres\w*|pg ?sql|pg|mysql|mariadb|mssql|mongo\w*|redis) connections?(?: check)?$"),
    ("db_slow", "db_slow",
     r"slow ?(?:quer(?:y|ies)|sql|log)|long ?running (?:quer(?:y|ies)|transaction)|quer(?:y|ies) "
     r"(?:latency|time|duration|slow|taking)|deadlocks?|lock (?:wait|timeout|contention)|blocked "
     r"(?:quer|process|session)|table lock|(?:db|database|sql|postgres\w*|mysql|rds|query) "
     r"(?:is )?(?:slow|latency|performance)|buffer (?:cache )?hit (?:ratio|rate)|"
     r"cache hit ratio|\bwait stats\b|tempdb|autovacuum|table bloat"),
    # --- resources -----------------------------------------------------------------------------------------
    # swap and page files are memory, although their alerts talk about "space" and "free"
    ("memory.swap", "memory", r"\bswap|page ?file|paging file|virtual memory"),
    ("disk", "disk",
     r"\bdisk|file ?system|\bfs\b|\bvolume\b.*(?:space|full|usage|filling|low|free|used|utili)|"
     r"(?:persistent )?volume (?:filling|full|almost|usage|space|low)|free (?:storage )?space|storage "
     r"(?:space|full|usage|percent|low|capacity|utili)|free space|space (?:left|used|usage|low|is low|available)|"
     r"out of (?:disk )?space|no space left|inodes?|mount ?point|partition|\braid\b|\bsmart\b|\biops\b|"
     r"\bdrive [a-z]:? ?(?:space|usage|free|full|low)|"
     r"\bi/?o (?:wait|util|error|saturation|latency)|io ?wait|read ?only file ?system|ext[234] ?fs|xfs|zfs|"
     r"\bzpool\b|\b(?:read|write) (?:latency|iops|throughput|ops)\b|burst balance|volume queue|ebs ?io|"
     r"disk queue|storage percent|log (?:volume|partition) full"),
    ("memory", "memory",
     r"\bmem(?:ory)?\b|\bram\b|\bswap|\bheap\b|freeable memory|available memory|page ?file|paging|"
     r"commit(?:ted)? (?:charge|memory|bytes)|working set|\bgc (?:overhead|pause|time)|garbage collect|"
     r"major page faults|memory (?:pressure|leak|usage|utili)"),
    ("cpu", "cpu",
     r"\bcpu|processor|load (?:average|avg|high|is high|too high|per cpu)|\bload ?(?:1|5|15)\b|"
     r"system load|current load|high load|\bload\b$|^load\b|\bsteal\b|context switch|cpu credit|"
     r"\bdtu consumption|compute utili|saturation$|\bcores?\b (?:usage|utili)|\bvcpu"),
    # --- host and service availability -----------------------------------------------------------------------
    ("service_down.known", "service_down:{service}",
     rf"\b(?P<service>{_SVC})\b:?(?: (?:service|process|daemon|server|instance|pod|container)s?)?:? ?{_DOWN}"),
    ("service_down.alertname", "service_down:{service}",
     rf"^(?:host )?(?P<service>{_SVC}) (?:is )?(?:down|not up|unavailable|dead|crash\w*)$"),
    ("host_down.unreachable", "host_down",
     r"host (?:is )?(?:down|unreachable|unavailable|not responding|not reporting|offline|dead)|host down|"
     r"(?:server|node|instance|vm|virtual machine|machine|target|device|endpoint agent|computer) (?:is )?"
     r"(?:down|unreachable|offline|not responding|not ready|unavailable|missing|lost)|instance down|"
     r"target ?(?:down|missing)|\bup ?== ?0|no heartbeat|heartbeat (?:missing|lost|fail\w*|stale|timeout)|"
     r"missing heartbeat|agent (?:is )?(?:not available|unavailable|unreachable|down|offline|not "
     r"reporting|stopped reporting|disconnected|lost)|(?:not |un)available by icmp|icmp (?:ping )?"
     r"(?:fail|loss|unreachable|timeout)|\bping\b.*(?:critical|fail|down|timeout|100 ?%)|packet loss ?=? ?100|"
     r"100 ?% (?:packet )?loss|status ?check ?failed|node not ready|kube node (?:not ready|unreachable)|"
     r"(?:vm|instance|server) (?:was )?(?:stopped|terminated|deallocated|powered off|rebooted unexpectedly)|"
     r"powered off|no data (?:from|for) host|not reporting|resource health.*unavailable|availability "
     r"(?:metric|dropped|lost|check)|vm availability|went offline|is offline|\boffline\b|"
     r"host (?:alive|check)|unexpected (?:shutdown|reboot)|kernel panic|bsod|blue screen|monitor type=ping"),
    ("service_down.web", "service_down:{service}", rf"\b(?P<service>https?|web) (?:service|server|site) {_DOWN}"),
    ("service_down.windows", "service_down:{service}",
     r"the (?P<service>[\w ]{2,60}?) service (?:terminated|entered the stopped state|stopped|failed|"
     r"crashed|is not running)"),
    ("service_down.process", "service_down:{service}",
     rf"(?:service|process|daemon|unit|systemd)\b[: ]+['\"]?(?P<service>{_SVC})['\"]?.*{_DOWN}|"
     rf"(?:service|process|program|daemon|container)\s+(?!(?:is|was|has|are|not|check|health)\b)['\"]?"
     rf"(?P<service2>[a-z0-9][\w.@]*)['\"]?\s+{_DOWN}"),
    ("service_down.generic", "service_down:{service}",
     r"(?:service|process|daemon|systemd unit|unit|pod|container|job|task|deployment|replica ?set|"
     r"stateful ?set|daemon ?set)s? (?:\S+ )?" + _DOWN + r"|crash ?loop|back ?off|pods? (?:restarting|not "
     r"ready|pending|failed|evicted)|replicas? mismatch|container (?:waiting|restarts?)|systemd service "
     r"crash|not running|process (?:count|missing)"),
    # a service that restarted by itself (uptime reset, restart count): it went down, if briefly
    ("service_down.restart", "service_down:{service}",
     rf"(?:service|process|daemon|unit)\b:? ['\"]?(?P<service>{_SVC})['\"]?(?: service)? (?:has been |was |got )?"
     r"restart(?:ed|s|ing)\b|(?:service|process|daemon|unit|application|app)s? (?:\S+ )?(?:has been |was |got )?"
     r"(?:unexpectedly )?restart(?:ed|ing)\b|restart (?:count|loop)|uptime (?:reset|< ?\d+ ?m)"),
    ("service_down.port", "service_down:{service}",
     r"\b(?:econnrefused|connection refused|port|tcp|connect(?:ion)? (?:to|failed))\b.*?:(?P<port>\d{2,5})\b|"
     r"\bport (?P<port2>\d{2,5}) (?:is )?(?:closed|down|not responding|unreachable|refused)|"
     r"monitor type=(?:port|tcp|steam|mqtt|radius|smtp)"),
    ("service_down.refused", "service_down:{service}", r"\b(?:econnrefused|connection refused)\b"),
    ("service_down.http", "service_down:http",
     r"^(?:https?|http check|https check|web ?site|url|web|http probe|check http|website check)$|"
     r"probe ?(?:http )?fail\w*|blackbox|uptime check|synthetic\w*|web ?site (?:is )?(?:down|unreachable|"
     r"fail)|site (?:is )?down|endpoint (?:is )?(?:down|unreachable|fail)|url (?:is )?(?:down|unreachable)|"
     r"health ?check (?:fail|critical)|un ?healthy host|healthy host count|(?:failed|failing) health ?checks?|"
     r"\bhttps? (?:check |probe )?(?:critical|failure|failed|down)|failure for .*/https?\b|"
     r"monitor type=(?:https?|keyword|json query|real browser|group)"),
    ("service_down.bare", "service_down:{service}", rf"^(?P<service>{_SVC})$"),
    # --- application signals ---------------------------------------------------------------------------------
    ("network", "network",
     r"\bnetwork|packet ?loss|packets? (?:drop|dropped|discard|error|loss)|interface .*(?:down|error|flap)|"
     r"\blink (?:down|flap|failure|is down)|bandwidth|throughput|\bnet (?:in|out)\b|\bbgp\b|\bospf\b|\bvpn\b|"
     r"ipsec|tunnel (?:down|flap)|\bdns\b (?:resolution|fail|timeout|error)|dhcp|jitter|\b(?:rx|tx) "
     r"(?:errors|drops|dropped)|\bnic\b|\bswitch (?:port|down|unreachable)|router|\bsnmp\b.*(?:down|"
     r"unreachable|timeout)|conntrack|\bnat\b|\bvlan\b|spanning tree|\bwan\b|\blan\b|uplink|\bmtu\b|"
     r"monitor type=(?:dns|tailscale ping|gamedig)"),
    ("http_errors", "http_errors",
     r"(?:status|code|http|error|returned|response)\D{0,12}5\d\d\b|\b5\d\d (?:error|service|internal|bad|gateway)|"
     r"\b5xx\b|\b4xx\b|\bhttp ?(?:code|status)? ?(?:5|4)\d\d|\bhttp 5xx|http (?:server )?errors?|"
     r"error (?:rate|ratio|percent\w*|count|spike|budget)|errors? (?:rate|ratio|percent\w*|spike|budget|"
     r"increase|per (?:second|minute))|(?:request|response|api|application|app|server|client|backend|target|"
     r"elb|lambda|function) (?:errors?|failures?)|internal server error|bad gateway|service unavailable|"
     r"gateway time ?out|exception|traceback|stack ?trace|\b\w+ error: |^\w+ error\b|panic:|too many errors|"
     r"failed requests|requests? fail|error logs?|errors? (?:in|on) (?:logs?|app)|new (?:issue|error)|"
     r"regression|unhandled|uncaught|fatal error|deploy\w* (?:fail|error)|^errors?$|\berrors\b.*(?:high|>)|"
     r"apdex|crash (?:rate|free)"),
    ("latency", "latency",
     r"latency|response ?time|slow (?:responses?|requests?|pages?|endpoints?|transactions?|api)|\bslow\b|"
     r"\bp9[059]\b|percentile|time ?outs?\b|timed out|took too long|duration (?:high|>|above|exceeded)|"
     r"transaction time|\bttfb\b|queue (?:length|depth|backlog|size|time)|backlog|(?:consumer|message|"
     r"kafka) lag|message age|oldest message|throttl\w*|\bsaturat\w*|\brtt\b|round trip|delay(?:ed)?\b"),
)

# Labels whose values describe *what* is wrong (tool-specific names). Their text is classified after the
# signature and before the message. Keys are compared case-insensitively.
CLASSIFY_LABELS: tuple[str, ...] = (
    "alertname", "rulename", "alert_rule", "check", "check_command", "service", "service_display_name",
    "servicedesc", "service_description", "metric_name", "metric", "metric_display_name", "metric_type",
    "alert_metric", "component", "category", "class", "monitor_type", "condition_name", "conditions",
    "policy_name", "search_name", "trigger_name", "trigger", "event_type", "namespace", "type", "check_name",
    "monitor_name", "item", "item_key", "problem", "name",
)

# Labels that name the failing service when a service_down rule did not capture one.
SERVICE_LABELS: tuple[str, ...] = (
    "service", "service_name", "systemd_unit", "unit", "name", "process", "process_name", "container",
    "app", "app_kubernetes_io_name", "deployment", "daemonset", "statefulset", "job_name",
)

# Canonical service names (normalised spelling on the left).
SERVICE_ALIASES: dict[str, str] = {
    "apache": "apache", "apache 2": "apache", "apache2": "apache", "httpd": "apache",
    "iis": "iis", "w3svc": "iis", "world wide web publishing": "iis",
    "postgres": "postgresql", "postgresql": "postgresql", "pgsql": "postgresql", "pg": "postgresql",
    "mysql": "mysql", "mysqld": "mysql", "mariadb": "mysql",
    "mssql": "mssql", "mssqlserver": "mssql", "sql server": "mssql",
    "redis": "redis", "redis server": "redis", "mongod": "mongodb", "mongodb": "mongodb", "mongo": "mongodb",
    "ssh": "sshd", "sshd": "sshd", "openssh": "sshd",
    "docker": "docker", "dockerd": "docker", "kube apiserver": "kube-apiserver", "kubeapiserver": "kube-apiserver",
    "kube proxy": "kube-proxy", "kubeproxy": "kube-proxy", "rabbit mq": "rabbitmq", "rabbitmq": "rabbitmq",
    "php fpm": "php-fpm", "phpfpm": "php-fpm", "ntp": "ntpd", "ntpd": "ntpd", "chrony": "chronyd",
    "chronyd": "chronyd", "cron": "cron", "crond": "cron", "bind": "named", "bind9": "named", "named": "named",
    "smbd": "samba", "slapd": "ldap", "spooler": "spooler", "print spooler": "spooler",
    "icinga": "icinga2", "icinga2": "icinga2", "supervisor": "supervisord", "supervisord": "supervisord",
    "https": "http", "web": "http", "website": "http", "web site": "http", "url": "http",
    "zabbix server": "zabbix-server", "zabbix proxy": "zabbix-proxy", "node exporter": "node-exporter",
    "active directory": "active-directory",
}

# Well-known ports -> canonical service (used for "connection refused ...:5432" and port monitors).
PORT_SERVICES: dict[int, str] = {
    21: "ftp", 22: "sshd", 25: "smtp", 53: "dns", 80: "http", 110: "pop3", 143: "imap", 389: "ldap",
    443: "http", 445: "samba", 465: "smtp", 587: "smtp", 636: "ldap", 993: "imap", 995: "pop3",
    1433: "mssql", 1521: "oracle", 2049: "nfs", 2379: "etcd", 3000: "http", 3306: "mysql", 3389: "rdp",
    5432: "postgresql", 5672: "rabbitmq", 5985: "winrm", 5986: "winrm", 6379: "redis", 6443: "kube-apiserver",
    8080: "http", 8443: "http", 9000: "http", 9092: "kafka", 9200: "elasticsearch", 10250: "kubelet",
    11211: "memcached", 27017: "mongodb",
}
