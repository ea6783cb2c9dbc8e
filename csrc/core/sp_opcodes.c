#include "sp_opcodes.h"

#include <stddef.h>

static const char *const opcode_names[SP_N_OPCODES] = {
#define SP_X(name, byte, proto) #name,
    SP_OPCODE_LIST(SP_X)
#undef SP_X
};

/* Dense index + 1 of each byte, 0 for bytes that are not opcodes: built at
 * compile time from the X-macro, so the lookup is one load with no
 * initialisation to race on. */
const signed char sp_opcode_byte_table[256] = {
#define SP_X(name, byte, proto) [(unsigned char)(byte)] = (signed char)(SP_OPI_##name + 1),
    SP_OPCODE_LIST(SP_X)
#undef SP_X
};

const unsigned char sp_opcode_protocol_table[SP_N_OPCODES] = {
#define SP_X(name, byte, proto) proto,
    SP_OPCODE_LIST(SP_X)
#undef SP_X
};

int sp_opcode_index(unsigned char byte)
{
    return sp_opcode_byte_table[byte] - 1;
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
    return sp_opcode_protocol_table[index];
}
