// The VMM target; see docs/ARCHITECTURE.md.
