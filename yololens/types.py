"""Core types shared by every layer: the options as ``StrEnum`` s and :class:`LayerId`."""
