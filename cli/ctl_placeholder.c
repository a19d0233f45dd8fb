/* ctl_placeholder.c — delete when the component has real sources */
int ctl_placeholder(void);
int
ctl_placeholder(void)
{
    return 0;
}
