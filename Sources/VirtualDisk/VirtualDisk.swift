// The VirtualDisk target; see docs/ARCHITECTURE.md.
