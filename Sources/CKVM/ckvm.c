// Definitions for CKVM.h that cannot be header-only: the kick signal handler and its
// thread-local kvm_run pointer, SIGRTMIN, pthread_setname_np.
#define _GNU_SOURCE
#include "CKVM.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

// initial-exec: the handler must not take the lazy TLS allocation path (not async-signal-safe).
static __thread struct kvm_run *volatile ckvm_thread_run __attribute__((tls_model("initial-exec")));

static void ckvm_kick_handler(int signo) {
    (void)signo;
    struct kvm_run *run = ckvm_thread_run;
    if (run) {
        __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    }
}

int ckvm_sigrtmin(void) { return SIGRTMIN; }

int ckvm_install_kick_handler(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = ckvm_kick_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    return sigaction(signo, &action, NULL);
}

int ckvm_unblock_signal(int signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void ckvm_set_thread_run(struct kvm_run *run) { ckvm_thread_run = run; }

int ckvm_pthread_setname(const char *name) { return pthread_setname_np(pthread_self(), name); }
