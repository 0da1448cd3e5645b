#ifndef FORKLIFT_CEDITLINE_SHIM_H
#define FORKLIFT_CEDITLINE_SHIM_H
#include <stdio.h>
#include <signal.h>
#include <editline/readline.h>

/* Ctrl-C at the REPL's prompt discards the line instead of killing the
 * process: while a line is read, SIGINT only sets this flag, and without
 * SA_RESTART the terminal read fails with EINTR so readline returns.
 * The flag is a static of this header: catch and check it from one Swift file. */
static volatile sig_atomic_t forklift_prompt_interrupted = 0;

static inline void forklift_prompt_sigint(int sig) {
    (void)sig;
    forklift_prompt_interrupted = 1;
}

/* Installs (on != 0) or removes the prompt's SIGINT handler. */
static inline void forklift_catch_prompt_interrupts(int on) {
    struct sigaction sa;
    sa.sa_handler = on ? forklift_prompt_sigint : SIG_DFL;
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* True once after Ctrl-C was pressed at the prompt. */
static inline int forklift_take_prompt_interrupt(void) {
    int was = forklift_prompt_interrupted;
    forklift_prompt_interrupted = 0;
    return was;
}
#endif
