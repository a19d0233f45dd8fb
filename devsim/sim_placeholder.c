/* sim_placeholder.c — delete when the component has real sources */
int sim_placeholder(void);
int
sim_placeholder(void)
{
    return 0;
}
