"""Ray Data / Ray Train stages and Delta Lake I/O, built from space/ pieces."""
