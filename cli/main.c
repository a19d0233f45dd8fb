/* main.c — obtctl: the operator's command line */
#include "ctl_main.h"

int
main(int argc, char **argv)
{
    return ctl_main(argc, argv);
}
