"""Independent references used only by the tests and benchmarks (never by the library):
PIL implementations of the ops and a toy reward whose exact policy gradient is known.
Import the modules directly (``dada_mm.testing.<module>``)."""
