/*
 * omniprof keys: the configuration keys (with their short forms);
 * omniprof version.
 */
#include <stdio.h>

#include "cli.h"

int cli_cmd_keys(int argc, char **argv)
{
    (void)argc, (void)argv;
    for (size_t i = 0; i < ctl_config_key_count(); i++) {
        const char *alias = ctl_config_key_alias(i);
        if (alias)
            printf("%s (short: %s)\n", ctl_config_key_name(i), alias);
        else
            printf("%s\n", ctl_config_key_name(i));
    }
    return 0;
}

int cli_cmd_version(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("omniprof %s\n", OMNIPROF_VERSION);
    return 0;
}
