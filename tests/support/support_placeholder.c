/* placeholder: delete when support/ has real sources */
int obt_support_placeholder(void);
int
obt_support_placeholder(void)
{
    return 0;
}
