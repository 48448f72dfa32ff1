"""Demo storm mode: a realistic burst of alerts from several tools, played into a company over a minute or two
through the real ingestion path, so a newcomer watches the console come alive.

``script`` builds the deliveries from the company's assets (``roles`` casts them, ``payloads`` shapes each tool's
native body); ``player`` sends them at their times and runs the console's background storms. Used by
``alertwhisperer demo storm`` and the dashboard's "Play demo storm" button (``web/pages/demo.py``).
"""

from alertwhisperer.demo_storm.player import StormProgress, StormRunner, deliver, play, script_for
from alertwhisperer.demo_storm.roles import NoAssets, StormAsset, cast
from alertwhisperer.demo_storm.script import NOMINAL_SECONDS, Step, StormScript, build_storm

__all__ = ["NOMINAL_SECONDS", "NoAssets", "Step", "StormAsset", "StormProgress", "StormRunner", "StormScript",
           "build_storm", "cast", "deliver", "play", "script_for"]
