// CKVM: the project's one C shim (docs/ARCHITECTURE.md).
// Why it exists: Swift cannot import the _IO/_IOR/_IOW ioctl macros of linux/kvm.h, cannot call
// variadic ioctl(2) with an unsigned long argument, cannot see SIGRTMIN or pthread_setname_np,
// must not run Swift code in a signal handler, and has no atomics over memory it did not
// allocate (guest RAM shared with the guest). Everything here is a thin, fixed-arity wrapper.
#ifndef CKVM_H
#define CKVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>

// MARK: ioctl with argument widths right by construction.
static inline int ckvm_ioctl_val(int fd, unsigned long request, unsigned long arg) {
    return ioctl(fd, request, arg);
}
static inline int ckvm_ioctl_ptr(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}

// MARK: ioctl numbers (the _IO* macros do not import into Swift).
// /dev/kvm
static const unsigned long CKVM_GET_API_VERSION = KVM_GET_API_VERSION;
static const unsigned long CKVM_CREATE_VM = KVM_CREATE_VM;
static const unsigned long CKVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const unsigned long CKVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const unsigned long CKVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const unsigned long CKVM_GET_MSR_INDEX_LIST = KVM_GET_MSR_INDEX_LIST;
// VM fd
static const unsigned long CKVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const unsigned long CKVM_CREATE_VCPU = KVM_CREATE_VCPU;
static const unsigned long CKVM_CREATE_IRQCHIP = KVM_CREATE_IRQCHIP;
static const unsigned long CKVM_CREATE_PIT2 = KVM_CREATE_PIT2;
static const unsigned long CKVM_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
static const unsigned long CKVM_SET_IDENTITY_MAP_ADDR = KVM_SET_IDENTITY_MAP_ADDR;
static const unsigned long CKVM_ENABLE_CAP = KVM_ENABLE_CAP;
static const unsigned long CKVM_X86_SET_MSR_FILTER = KVM_X86_SET_MSR_FILTER;
static const unsigned long CKVM_SIGNAL_MSI = KVM_SIGNAL_MSI;
static const unsigned long CKVM_IRQ_LINE = KVM_IRQ_LINE;
static const unsigned long CKVM_IRQFD = KVM_IRQFD;
static const unsigned long CKVM_IOEVENTFD = KVM_IOEVENTFD;
static const unsigned long CKVM_GET_IRQCHIP = KVM_GET_IRQCHIP;
static const unsigned long CKVM_SET_IRQCHIP = KVM_SET_IRQCHIP;
static const unsigned long CKVM_GET_PIT2 = KVM_GET_PIT2;
static const unsigned long CKVM_SET_PIT2 = KVM_SET_PIT2;
static const unsigned long CKVM_GET_CLOCK = KVM_GET_CLOCK;
static const unsigned long CKVM_SET_CLOCK = KVM_SET_CLOCK;
// vCPU fd
static const unsigned long CKVM_RUN = KVM_RUN;
static const unsigned long CKVM_GET_REGS = KVM_GET_REGS;
static const unsigned long CKVM_SET_REGS = KVM_SET_REGS;
static const unsigned long CKVM_GET_SREGS = KVM_GET_SREGS;
static const unsigned long CKVM_SET_SREGS = KVM_SET_SREGS;
static const unsigned long CKVM_GET_MSRS = KVM_GET_MSRS;
static const unsigned long CKVM_SET_MSRS = KVM_SET_MSRS;
static const unsigned long CKVM_SET_CPUID2 = KVM_SET_CPUID2;
static const unsigned long CKVM_GET_FPU = KVM_GET_FPU;
static const unsigned long CKVM_SET_FPU = KVM_SET_FPU;
static const unsigned long CKVM_GET_LAPIC = KVM_GET_LAPIC;
static const unsigned long CKVM_SET_LAPIC = KVM_SET_LAPIC;
static const unsigned long CKVM_GET_VCPU_EVENTS = KVM_GET_VCPU_EVENTS;
static const unsigned long CKVM_SET_VCPU_EVENTS = KVM_SET_VCPU_EVENTS;
static const unsigned long CKVM_GET_MP_STATE = KVM_GET_MP_STATE;
static const unsigned long CKVM_SET_MP_STATE = KVM_SET_MP_STATE;
static const unsigned long CKVM_GET_XSAVE = KVM_GET_XSAVE;
static const unsigned long CKVM_SET_XSAVE = KVM_SET_XSAVE;
static const unsigned long CKVM_GET_XCRS = KVM_GET_XCRS;
static const unsigned long CKVM_SET_XCRS = KVM_SET_XCRS;
static const unsigned long CKVM_GET_DEBUGREGS = KVM_GET_DEBUGREGS;
static const unsigned long CKVM_SET_DEBUGREGS = KVM_SET_DEBUGREGS;

// MARK: vCPU kicks.
// A kick is pthread_kill(vcpu_thread, ckvm_sigrtmin()). The handler (C: it runs in signal
// context, where Swift code must not run) sets immediate_exit on the kvm_run page the
// interrupted thread registered, so a kick that lands just before KVM_RUN is not lost:
// KVM_RUN then returns EINTR at once.

/// SIGRTMIN (a glibc function-like macro Swift cannot see).
int ckvm_sigrtmin(void);
/// Installs the kick handler for `signo` (process-wide, SA_RESTART). Returns 0 or -1/errno.
int ckvm_install_kick_handler(int signo);
/// Unblocks `signo` in the calling thread (threads inherit the creator's mask, and Dispatch
/// worker threads block almost every signal). Returns 0 or an errno value.
int ckvm_unblock_signal(int signo);
/// Registers (or, with NULL, unregisters) the calling thread's kvm_run page for the handler.
void ckvm_set_thread_run(struct kvm_run *run);
/// Atomic store to kvm_run.immediate_exit (the handler writes it concurrently).
static inline void ckvm_store_immediate_exit(struct kvm_run *run, uint8_t value) {
    __atomic_store_n(&run->immediate_exit, value, __ATOMIC_SEQ_CST);
}
/// pthread_setname_np (needs _GNU_SOURCE). Names are at most 15 bytes.
int ckvm_pthread_setname(const char *name);

// MARK: atomics on guest-shared memory (ring indices, SynIC slots).
static inline uint32_t ckvm_atomic_load_u32(const void *p) {
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}
static inline void ckvm_atomic_store_u32(void *p, uint32_t v) {
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE);
}
static inline uint64_t ckvm_atomic_load_u64(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}
static inline void ckvm_atomic_store_u64(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
}
static inline uint32_t ckvm_atomic_cmpxchg_u32(void *p, uint32_t expected, uint32_t desired) {
    __atomic_compare_exchange_n((uint32_t *)p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    return expected;
}
static inline uint64_t ckvm_atomic_fetch_or_u64(void *p, uint64_t bits) {
    return __atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_ACQ_REL);
}
static inline uint64_t ckvm_atomic_fetch_and_u64(void *p, uint64_t bits) {
    return __atomic_fetch_and((uint64_t *)p, bits, __ATOMIC_ACQ_REL);
}
static inline void ckvm_memory_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

#endif
