/* coap_map: being written (issue 20); see include/estrad/coap_map.h. */
#include "estrad/coap_map.h"
