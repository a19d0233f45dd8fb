/* ams_placeholder.c — delete when the component has real sources */
int ams_placeholder(void);
int
ams_placeholder(void)
{
    return 0;
}
