/* main.c — placeholder until the component lands; replace */
int
main(void)
{
    return 1;
}
