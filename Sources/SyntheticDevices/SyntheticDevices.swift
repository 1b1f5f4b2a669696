// The SyntheticDevices target; see docs/ARCHITECTURE.md.
