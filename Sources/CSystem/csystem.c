#define _GNU_SOURCE
#include "csystem.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <string.h>
#include <sys/socket.h>
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

long forklift_send_with_fds(int sock, const void *buf, unsigned long len, const int *fds, int nfds) {
    char control[CMSG_SPACE(sizeof(int) * 16)];
    if (nfds < 0 || nfds > 16) return -1;
    struct iovec iov = { (void *)buf, len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    return (long)sendmsg(sock, &msg, MSG_NOSIGNAL);
}

long forklift_recv_with_fds(int sock, void *buf, unsigned long cap, int *fds, int maxfds, int *nfds) {
    char control[CMSG_SPACE(sizeof(int) * 16)];
    struct iovec iov = { buf, cap };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    *nfds = 0;
    long r = (long)recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0) return r;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (*nfds < maxfds) fds[(*nfds)++] = fd; else close(fd);
            }
        }
    }
    return r;
}

void forklift_child_default_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, 0);
    static const int defaults[] = {SIGTERM, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT};
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    for (unsigned i = 0; i < sizeof defaults / sizeof defaults[0]; i++) sigaction(defaults[i], &action, 0);
}

unsigned long forklift_affinity_size(void) { return sizeof(cpu_set_t); }

int forklift_affinity_pin_here(void *saved) {
    if (sched_getaffinity(0, sizeof(cpu_set_t), (cpu_set_t *)saved) != 0) return -1;
    int cpu = sched_getcpu();
    if (cpu < 0) return -1;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one);
}

int forklift_affinity_restore(const void *saved) {
    return sched_setaffinity(0, sizeof(cpu_set_t), (const cpu_set_t *)saved);
}

void forklift_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
