// The Boot target; see docs/ARCHITECTURE.md.
