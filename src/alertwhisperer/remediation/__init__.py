"""remediation domain: runbooks, the decision engine, approval gates, executions and their executors.

asyncssh (the SSH executor) still names DSA key types, and cryptography warns about DSA whenever asyncssh is
imported; we never offer or accept DSA keys, so that import-time warning is silenced here, once, for this domain.
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

warnings.filterwarnings("ignore", message="DSA is deprecated", category=CryptographyDeprecationWarning)
