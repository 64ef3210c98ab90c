/* coap_block: being written (issue 20); see include/estrad/coap_block.h. */
#include "estrad/coap_block.h"
