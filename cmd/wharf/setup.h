/* Start-up steps shared by `run` and `check`. */
#ifndef WH_CMD_SETUP_H
#define WH_CMD_SETUP_H

#include <stdio.h>

#include "lib/config/static.h"

/* Registers the middleware types and loads the static configuration,
 * printing every error to out. NULL on failure. */
wh_static_config *wh_setup_static(int argc, char **argv, char **envp, FILE *out);
/* Applies the log section of the static configuration. */
int wh_setup_log(const wh_static_config *stat);

#endif
