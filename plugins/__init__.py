"""Every subpackage is a plugin exposing ``plugin: emulator.plugin.Plugin``; nothing else here."""
