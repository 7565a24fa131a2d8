/* cli.h — the `oma` command line: one function per subcommand, each in its own cmd_*.c.
 * Conventions (DESIGN.md): every subcommand has --help; exit 0 on success, 1 when the work
 * failed, 2 for a usage error; errors go to stderr as one line, `oma: <what>: <why>`. */
#ifndef OMA_CLI_H
#define OMA_CLI_H

#define OMA_EXIT_OK 0
#define OMA_EXIT_FAIL 1
#define OMA_EXIT_USAGE 2

typedef struct oma_command {
    const char *name;                       /* "serve", "generate", "pose", ... */
    const char *summary;                    /* one line for `oma --help` */
    int (*main)(int argc, char **argv);     /* argv[0] is the subcommand name */
} oma_command;

/* Prints `oma: what: why` to stderr (printf-style why). */
void oma_cli_error(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* --device NAME (NULL: not given) or OMA_DEVICE for command `cmd`: OMA_EXIT_OK when the engine
 * can run there, else one line on stderr and OMA_EXIT_USAGE (cli_device.c). */
int oma_cli_device(const char *cmd, const char *requested);

/* True if argv holds -h or --help. */
int oma_cli_wants_help(int argc, char **argv);

/* Parses s as a whole decimal integer in lo..hi into *out: 0, or -1 (out untouched) if not. */
int oma_cli_int(const char *s, long lo, long hi, int *out);

#endif
