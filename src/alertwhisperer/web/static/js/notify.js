/* the notification bell: live unread count, browser notifications */
