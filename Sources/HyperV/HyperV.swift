// The HyperV target; see docs/ARCHITECTURE.md.
