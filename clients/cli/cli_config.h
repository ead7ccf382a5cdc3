/*
 * cli_config.h - the tix CLI's command line: the command words, the flag
 * table with its TIX_* twins, usage, and the checks made before any network.
 *
 * main.c calls cli_config_parse once; on true it runs the command found.
 * Every refusal is one line "tix: reason (CODE)" (cli_fail) or tix_opts'
 * "tix: reason" on stderr. Single-threaded (call from main).
 */
#ifndef CLI_CONFIG_H
#define CLI_CONFIG_H

#include <stdbool.h>

#include "cli.h"

/* Parses argv into cli (zeroed first): finds the command, applies defaults,
 * TIX_* variables and flags, takes the command's positionals, sets the log
 * level and, for a command that needs the broker, checks --frontend and the
 * CURVE flags. Returns true with the command in *cmd, ready to run; false
 * when the process should end now with *exit (CLI_EXIT_OK after --help,
 * CLI_EXIT_USAGE after printing why). cli borrows strings from argv,
 * environ and static defaults; argv is reordered (tix_opts_parse). */
bool cli_config_parse(cli_t *cli, int argc, char **argv, const cli_command_t **cmd, int *exit);

#endif
