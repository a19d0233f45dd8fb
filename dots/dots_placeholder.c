/* dots_placeholder.c — delete when the component has real sources */
int dots_placeholder(void);
int
dots_placeholder(void)
{
    return 0;
}
