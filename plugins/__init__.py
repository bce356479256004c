"""Built-in lamina plugins, each registered through the ``lamina`` entry-point group."""
