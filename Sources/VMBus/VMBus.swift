// The VMBus target; see docs/ARCHITECTURE.md.
