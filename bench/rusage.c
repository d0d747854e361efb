/* Runs a command and appends its peak RSS (KiB) and CPU seconds to a file, as one JSON line.
 *
 *     rusage OUT -- COMMAND [ARGS...]
 *
 * The benchmarks build it with gcc and use it as a ProxyCommand wrapper. It is C, not
 * Python, because Linux counts the RSS a process had before exec() in its peak: a child
 * forked from Python starts at Python's ~10 MiB. ssh sends SIGHUP to its ProxyCommand on
 * exit; it is passed on, and the wrapper lives to report. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;

static void forward(int sig) {
    if (child > 0) kill(child, sig);
}

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: rusage OUT -- COMMAND [ARGS...]\n");
        return 2;
    }
    child = fork();
    if (child < 0) { perror("fork"); return 2; }
    if (child == 0) {
        execvp(argv[3], argv + 3);
        perror(argv[3]);
        _exit(127);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int status;
    struct rusage ru;
    while (wait4(child, &status, 0, &ru) < 0) {
        if (errno != EINTR) { perror("wait4"); return 2; }
    }
    FILE *f = fopen(argv[1], "a");
    if (f) {
        double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        fprintf(f, "{\"maxrss_kib\": %ld, \"cpu_s\": %.6f}\n", ru.ru_maxrss, cpu);
        fclose(f);
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
