#ifndef WH_CMD_COMMANDS_H
#define WH_CMD_COMMANDS_H

/* Each returns the process exit status. argv excludes the program and
 * subcommand names. */
int wh_cmd_run(int argc, char **argv, char **envp);
int wh_cmd_check(int argc, char **argv, char **envp);
int wh_cmd_healthcheck(int argc, char **argv, char **envp);
int wh_cmd_explain(int argc, char **argv, char **envp);

#endif
