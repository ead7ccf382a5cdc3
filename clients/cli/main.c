/*
 * main.c - tix, the command-line client: parse the command line, connect,
 * run the command, exit with its status.
 */
#include "cli_config.h"
#include "tix_log.h"
#include "tix_util.h"

int
main(int argc, char **argv)
{
    tix_log_init("tix");
    cli_t cli;
    const cli_command_t *cmd;
    int exit;
    if (!cli_config_parse(&cli, argc, argv, &cmd, &exit))
        return exit;
    if (cmd->flags & CLI_FLAG_OFFLINE)
        return cmd->run(&cli);

    tix_signals_install(); /* before the socket exists, as tix_util.h asks */
    cli.client = tix_client_new_curve(cli.frontend, cli.curve_secret, cli.curve_server);
    if (!cli.client) /* the flags were checked: libzmq itself failed (logged) */
        return cli_fail(&cli, CLI_EXIT_ERROR, "INTERNAL", 0, "cannot create a client for '%s'", cli.frontend);
    exit = cmd->run(&cli);
    tix_client_destroy(&cli.client);
    return exit;
}
