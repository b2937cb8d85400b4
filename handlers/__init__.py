"""The construction quality-and-safety domain: organisations, people, projects, the
lock rule, the three business processes and the engine operators that apply them."""
