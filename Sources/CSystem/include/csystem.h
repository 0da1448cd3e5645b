/*
 * CSystem: the few Linux calls Swift cannot reach directly, because glibc
 * declares them only under _GNU_SOURCE or they are variadic (prctl, syscall).
 * Each is a one-line forwarder; the typed Swift wrappers live in
 * Sources/Forklift/POSIX.
 */
#ifndef FORKLIFT_CSYSTEM_H
#define FORKLIFT_CSYSTEM_H

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
/* F_SETPIPE_SZ */
int forklift_set_pipe_size(int fd, int size);

#endif
