/* The pod sandbox ("pause") container of the sandbox's real node (scripts/sandbox node): holds the
 * pod's namespaces and does nothing else. As pid 1 it reaps the children it inherits and exits on
 * SIGTERM or SIGINT. Built static, so the image is this one file (scripts/node-image pause). */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) {
    (void)sig;
    _exit(0);
}

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = quit;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;) {
        pause();
    }
    return EXIT_SUCCESS;
}
