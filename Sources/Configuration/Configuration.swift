// The Configuration target; see docs/ARCHITECTURE.md.
