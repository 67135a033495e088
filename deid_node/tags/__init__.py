"""PS3.15 Annex E tag rule engine (the header half of de-identification)."""
from .engine import TagEngine, TagEngineError, TagReport
from .profile import ProfileSettings

__all__ = ["ProfileSettings", "TagEngine", "TagEngineError", "TagReport"]
