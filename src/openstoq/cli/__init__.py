"""The ``openstoq`` command: ``main`` assembles it; each module holds one group of commands, and
``common`` what they share (the console, clear failures, migrating, building the runtime)."""
