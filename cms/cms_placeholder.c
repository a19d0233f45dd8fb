/* cms_placeholder.c — delete when the component has real sources */
int cms_placeholder(void);
int
cms_placeholder(void)
{
    return 0;
}
