// The KVM target; see docs/ARCHITECTURE.md.
