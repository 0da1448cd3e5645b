#define _GNU_SOURCE
#include "csystem.h"
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int forklift_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int forklift_memfd_create(const char *name, unsigned int flags) { return memfd_create(name, flags); }

int forklift_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

int forklift_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout) {
    return (int)syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, NULL, 0);
}

int forklift_futex_wake(uint32_t *word, int count) {
    return (int)syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

int forklift_gettid(void) { return (int)syscall(SYS_gettid); }

int forklift_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

int forklift_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

int forklift_mutex_lock_until(pthread_mutex_t *mutex, const struct timespec *deadline) {
    return pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, deadline);
}

static __thread int forklift_cached_tid;
int forklift_thread_id(void) {
    int t = forklift_cached_tid;
    return t ? t : (forklift_cached_tid = (int)syscall(SYS_gettid));
}
void forklift_forget_thread_id(void) { forklift_cached_tid = 0; }

int forklift_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
