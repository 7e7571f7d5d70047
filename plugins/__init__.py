"""Every subpackage is a plugin exposing ``plugin: emulator.host.Plugin``; nothing else here."""
