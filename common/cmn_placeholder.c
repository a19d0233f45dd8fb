/* cmn_placeholder.c — delete once common has real sources */
int cmn_placeholder(void);
int
cmn_placeholder(void)
{
    return 0;
}
