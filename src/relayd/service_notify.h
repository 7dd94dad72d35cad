// service_notify.h -- tells systemd (a unit with Type=notify) when relayd is ready to serve and
// when it is stopping, through the datagram socket $NOTIFY_SOCKET names: the protocol of
// sd_notify(3), without linking libsystemd for one datagram.
//
// Thread: the main thread. Never blocks (one datagram to a local socket) and never fails
// relayd: without a service manager listening, a state is dropped.
#pragma once

#include <string_view>

namespace relay {

// Sends `state` ("READY=1", "STOPPING=1", "STATUS=...", newline-separated) when relayd was
// started with NOTIFY_SOCKET set; does nothing otherwise.
void notify_service_manager(std::string_view state);

}  // namespace relay
