// CKVM: the project's one C shim (docs/ARCHITECTURE.md).
// Why it exists: Swift cannot import the _IO/_IOR/_IOW ioctl macros of linux/kvm.h, cannot call
// variadic ioctl(2) with an unsigned long argument, and has no atomics over memory it did not
// allocate (guest RAM shared with the guest). Everything here is a thin, fixed-arity wrapper.
#ifndef CKVM_H
#define CKVM_H

#include <linux/kvm.h>
#include <stdint.h>
#include <sys/ioctl.h>

// MARK: ioctl with argument widths right by construction.
static inline int ckvm_ioctl_val(int fd, unsigned long request, unsigned long arg) {
    return ioctl(fd, request, arg);
}
static inline int ckvm_ioctl_ptr(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}

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
