"""The process shell: settings, assembling the core, serving both doors, workers, the CLI."""
