/*
 * CSystem: the few Linux calls Swift cannot reach directly, because glibc
 * declares them only under _GNU_SOURCE or they are variadic (prctl, syscall).
 * Each is a one-line forwarder; the typed Swift wrappers live in
 * Sources/Forklift/POSIX.
 */
#ifndef FORKLIFT_CSYSTEM_H
#define FORKLIFT_CSYSTEM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* pipe2(2) */
int forklift_pipe2(int fds[2], int flags);
/* memfd_create(2) */
int forklift_memfd_create(const char *name, unsigned int flags);
/* prctl(PR_SET_PDEATHSIG, sig) */
int forklift_set_parent_death_signal(int sig);
/* futex(2) FUTEX_WAIT on a shared (not private) word; timeout relative, NULL = forever. */
int forklift_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout);
/* futex(2) FUTEX_WAKE on a shared word; returns the number woken. */
int forklift_futex_wake(uint32_t *word, int count);
/* gettid(2) */
int forklift_gettid(void);
/* pidfd_open(2): a descriptor that becomes readable when the process exits. */
int forklift_pidfd_open(int pid);

/* In a freshly forked child: unblocks every signal and puts SIGTERM and the
 * crash signals back to their default action (in C: no allocation, no lazy
 * Swift globals, so no extra page copied per fork). */
void forklift_child_default_signals(void);
/* F_SETPIPE_SZ */
int forklift_set_pipe_size(int fd, int size);

/* fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): gives a range's pages back. */
int forklift_punch_hole(int fd, int64_t offset, int64_t length);
/* pthread_mutex_clocklock(CLOCK_MONOTONIC, deadline) */
int forklift_mutex_lock_until(pthread_mutex_t *mutex, const struct timespec *deadline);
/* The calling thread's id (gettid), cached per thread; valid across fork
 * because forklift_forget_thread_id runs in the child (see SharedArena). */
int forklift_thread_id(void);
void forklift_forget_thread_id(void);

/* Atomic operations on words in shared memory (sequentially consistent).
 * Static inline so Swift inlines them: they are on the Value/lock fast paths.
 * cas returns true when *word held *expected (else *expected gets the value seen). */
static inline uint32_t forklift_load32(const uint32_t *w) { return __atomic_load_n(w, __ATOMIC_SEQ_CST); }
static inline void forklift_store32(uint32_t *w, uint32_t v) { __atomic_store_n(w, v, __ATOMIC_SEQ_CST); }
static inline uint32_t forklift_fetch_add32(uint32_t *w, uint32_t v) { return __atomic_fetch_add(w, v, __ATOMIC_SEQ_CST); }
static inline uint32_t forklift_fetch_sub32(uint32_t *w, uint32_t v) { return __atomic_fetch_sub(w, v, __ATOMIC_SEQ_CST); }
static inline bool forklift_cas32(uint32_t *w, uint32_t *expected, uint32_t desired) {
    return __atomic_compare_exchange_n(w, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline uint64_t forklift_load64(const uint64_t *w) { return __atomic_load_n(w, __ATOMIC_SEQ_CST); }
static inline void forklift_store64(uint64_t *w, uint64_t v) { __atomic_store_n(w, v, __ATOMIC_SEQ_CST); }
static inline bool forklift_cas64(uint64_t *w, uint64_t *expected, uint64_t desired) {
    return __atomic_compare_exchange_n(w, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline uint8_t forklift_load8(const uint8_t *w) { return __atomic_load_n(w, __ATOMIC_SEQ_CST); }
static inline void forklift_store8(uint8_t *w, uint8_t v) { __atomic_store_n(w, v, __ATOMIC_SEQ_CST); }
static inline bool forklift_cas8(uint8_t *w, uint8_t *expected, uint8_t desired) {
    return __atomic_compare_exchange_n(w, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline uint16_t forklift_load16(const uint16_t *w) { return __atomic_load_n(w, __ATOMIC_SEQ_CST); }
static inline void forklift_store16(uint16_t *w, uint16_t v) { __atomic_store_n(w, v, __ATOMIC_SEQ_CST); }
static inline bool forklift_cas16(uint16_t *w, uint16_t *expected, uint16_t desired) {
    return __atomic_compare_exchange_n(w, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* sendmsg(2) of `len` bytes with `nfds` descriptors attached (SCM_RIGHTS). */
long forklift_send_with_fds(int sock, const void *buf, unsigned long len, const int *fds, int nfds);
/* recvmsg(2) of up to `cap` bytes; received descriptors go to `fds` (at most
 * `maxfds`, close-on-exec), their number to `*nfds`. */
long forklift_recv_with_fds(int sock, void *buf, unsigned long cap, int *fds, int maxfds, int *nfds);

/* Bytes needed to save a CPU affinity mask (a cpu_set_t). */
unsigned long forklift_affinity_size(void);
/* Saves this thread's CPU affinity in `saved` and pins it to the CPU it runs
 * on; 0 on success. */
int forklift_affinity_pin_here(void *saved);
/* Restores the affinity `forklift_affinity_pin_here` saved. */
int forklift_affinity_restore(const void *saved);

/* A spin-wait hint to the CPU (x86 `pause`). */
void forklift_cpu_relax(void);

#endif
