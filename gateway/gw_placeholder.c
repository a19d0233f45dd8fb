/* gw_placeholder.c — delete when the component has real sources */
int gw_placeholder(void);
int
gw_placeholder(void)
{
    return 0;
}
