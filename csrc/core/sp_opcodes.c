#include "sp_opcodes.h"

#include <stddef.h>

static const char *const opcode_names[SP_N_OPCODES] = {
#define SP_X(name, byte, proto) #name,
    SP_OPCODE_LIST(SP_X)
#undef SP_X
};

static const unsigned char opcode_protocols[SP_N_OPCODES] = {
#define SP_X(name, byte, proto) proto,
    SP_OPCODE_LIST(SP_X)
#undef SP_X
};

/* Built once from the X-macro; -1 marks bytes that are not opcodes. Kept as
 * a switch-free table so that the hot loop is one load. */
static const signed char *byte_table(void)
{
    static signed char table[256];
    static int ready;

    if (!ready) {
        for (int i = 0; i < 256; i++)
            table[i] = -1;
#define SP_X(name, byte, proto) table[(unsigned char)(byte)] = (signed char)SP_OPI_##name;
        SP_OPCODE_LIST(SP_X)
#undef SP_X
        ready = 1;
    }
    return table;
}

int sp_opcode_index(unsigned char byte)
{
    return byte_table()[byte];
}

const char *sp_opcode_name(int index)
{
    if (index < 0 || index >= SP_N_OPCODES)
        return NULL;
    return opcode_names[index];
}

int sp_opcode_protocol(int index)
{
    if (index < 0 || index >= SP_N_OPCODES)
        return -1;
    return opcode_protocols[index];
}
